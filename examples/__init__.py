"""Example shared models, each served with ``traitsweb serve examples.<name>:create``.

* :mod:`examples.chat`: the chat of the original demo (the default model);
* :mod:`examples.instrument`: a simulated lab instrument that samples by itself at 20 Hz;
* :mod:`examples.taskboard`: a shared task board (``Dict`` and ``Set`` traits).
"""

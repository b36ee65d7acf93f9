"""The desktop service: a live Traits UI window (or headless PNGs) of the shared model.

``python -m services.desktop`` opens the window; ``--headless`` renders the same
Chaco plots to PNG files. Modules:

* ``config``: :class:`DesktopSettings` (``TRAITSWEB_*`` variables);
* ``model``: :class:`DesktopModel`, a ``HasTraits`` copy of the shared model's state (no I/O, no GUI);
* ``link``: :class:`Link`, the STOMP side: snapshot, out stream, re-snapshots, writes;
* ``plotdata``: :class:`ChatPlotData`, the arrays behind the plots;
* ``plots``: the Chaco plot components built on those arrays;
* ``window``: the chat's Traits UI window, and ``run`` (opens the window the first snapshot asks for);
* ``generic``, ``genplots``, ``genwindow``: any other model, from the snapshot's schema: its
  fields and plot arrays, its Chaco line plots, its generated Traits UI window with controls;
* ``headless``: the PNG writer (the chat's plots or the generated ones).

Enthought modules choose their toolkit when first imported, so ``__main__``
sets ``ETS_TOOLKIT`` before importing ``plots``, ``window`` or ``headless``.
"""

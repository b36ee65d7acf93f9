"""traitsweb: a live Traits model shared by browsers and desktops over STOMP.

This package is the library every service imports: the message protocol
(:mod:`traitsweb.protocol`), the state mirror every consumer keeps
(:mod:`traitsweb.state`), the STOMP connection owner (:mod:`traitsweb.broker`),
the generic HasTraits <-> message bridge (:mod:`traitsweb.bridge`), the
scheduler a model changes itself with (:mod:`traitsweb.background`), how a
``module:factory`` is found and checked (:mod:`traitsweb.factory`) and the
settings shared by all services (:mod:`traitsweb.settings`). It is imported,
never run.
"""

__version__ = "0.1.0"

"""Built-in elements. Importing this package registers them all by name: every module in it is
imported, so a new element is one new file here."""

from importlib import import_module
from pkgutil import iter_modules

for _module in iter_modules(__path__):
    import_module(f"{__name__}.{_module.name}")

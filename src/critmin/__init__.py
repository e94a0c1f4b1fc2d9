"""critmin: decision support for critical-mineral supply chains.

Start here::

    import critmin
    world = critmin.load()              # the embedded, versioned World
    world.production("rare-earths", stage="mining", year=2024)
    world.trade(hs6="284690", year=2022)

The World is built from real public releases (USGS, World Mining Data, IEA,
CEPII BACI, World Bank WGI) by ``critmin data build``; every table carries its
source, year, unit and licence in ``world.datapackage``.
"""

from critmin.errors import InputError
from critmin.world import World, load

__all__ = ["World", "load", "InputError"]
__version__ = "0.1.0"

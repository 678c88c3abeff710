"""The methods: each module registers one (``nst_bench.methods.registry``). Importing the package registers all."""

from nst_bench.methods import adain, cyclegan, deepdream, fast, gatys, magenta, photo  # noqa: F401  (they register)

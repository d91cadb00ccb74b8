"""Jets: four-vector helpers, anti-kT clustering with the jet selections, substructure observables.

The ground floor of the package: nothing here imports the generator (``preprocessing.events``)
or anything above it.
"""

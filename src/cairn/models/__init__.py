"""Models: flavors, signatures, training-data profiles, the model folder and the registry.

Nothing here is imported by ``import cairn``; machine-learning libraries are imported only
when a model of their flavor is saved or loaded.
"""

"""The feature store: the registry of feature groups (schemas/features/*.yaml) and its catalog."""

"""Training recipes, one per kind of family; the registry in genrestore.families says which."""

"""Keras files without Keras: reading (`_files`), the layer chain (`_graph`), layer
converters (`_layers`) and the torch modules they build (`_modules`)."""

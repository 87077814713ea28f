"""The version of explainr, kept in the core so every layer can name it."""

VERSION = "0.1.0"

"""Feature-distribution analysis of stored features: UMAP maps, separability metrics, and the
controlled text-overlay bias test. Modules are imported directly (umap and matplotlib are heavy)."""

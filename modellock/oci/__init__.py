"""OCI distribution: registry addresses, ModelPack artifacts of locked models, a registry client, image layouts."""

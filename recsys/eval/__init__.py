"""Full-catalogue ranking evaluation, metrics and the efficiency record."""

"""Sub-commands of the ``qkdpp`` CLI, one module each."""

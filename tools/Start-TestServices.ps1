# Starts what the tests need. Filled in as backends that need services arrive.

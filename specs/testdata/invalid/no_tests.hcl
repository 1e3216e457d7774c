# A spec with nothing in it.

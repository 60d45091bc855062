"""The only code in herodev that runs processes or makes system calls."""

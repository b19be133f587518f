"""Paper reproductions and the nasrepro command line."""

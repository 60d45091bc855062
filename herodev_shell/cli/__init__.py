"""The front end: argv and the REPL in, tables and JSON out. Parses and renders; decides nothing."""

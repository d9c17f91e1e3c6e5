from kymaprov.cli.main import main

main()

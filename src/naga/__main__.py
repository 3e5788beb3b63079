from naga.cli import main

main()

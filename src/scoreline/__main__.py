from scoreline.cli.app import main

main()

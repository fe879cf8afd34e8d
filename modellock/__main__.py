from modellock.cli.app import main

main()

from modellock.cli import main

main()

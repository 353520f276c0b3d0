from stssl.cli import main

main()

from toolkit.cli import console_main

console_main()

from ferry_infra._cli import main

main()

from llmcli.app import main

main()

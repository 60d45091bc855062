from herodev_shell.cli.main import main

raise SystemExit(main())

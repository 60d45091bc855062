from herodev_shell.cli import main

raise SystemExit(main())

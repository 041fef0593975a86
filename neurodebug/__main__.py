from neurodebug.cli import main

raise SystemExit(main())

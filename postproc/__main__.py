from postproc.cli import main

raise SystemExit(main())

from mbcrt.run.cli import main

raise SystemExit(main())

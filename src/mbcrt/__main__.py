from mbcrt.cli import main

raise SystemExit(main())

from sarssm.cli import main

raise SystemExit(main())

from cachebuild.cli import main

raise SystemExit(main())

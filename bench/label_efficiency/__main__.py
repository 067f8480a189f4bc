from bench.label_efficiency.cli import main

if __name__ == "__main__":
    main()

// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "autopilotd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "autopilotd", targets: ["autopilotd"]),
        .executable(name: "autopilotctl", targets: ["autopilotctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Pure rules and types. No I/O, no clock, no dependencies.
        .target(name: "AutopilotDomain"),
        // The varlink wire protocol only: JSON values, NUL framing, calls, replies, org.varlink.service.
        .target(name: "Varlink"),
        // The io.autopilotd.registry interface: its description text, wire codecs and error table,
        // shared by the daemon and the client so both speak the same types.
        .target(name: "AutopilotInterface", dependencies: ["AutopilotDomain", "Varlink"]),
        // SQLite through GRDB; migrations/*.sql are compiled in by the EmbedMigrations plugin.
        .target(
            name: "AutopilotStore",
            dependencies: [
                "AutopilotDomain",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API GRDB links, for the few hot queries read without GRDB's rows (RawRows.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        // Gives back the pages of code a process mapped and no longer runs (the daemon when idle; docs/performance.md).
        .target(name: "CProcessMemory"),
        // The daemon as a library: config, identity, dispatcher, NIO server, systemd integration.
        .target(
            name: "AutopilotService",
            dependencies: [
                "AutopilotDomain", "AutopilotInterface", "AutopilotStore", "Varlink",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                "CProcessMemory",
            ]
        ),
        // A small blocking varlink client over plain sockets, with typed calls.
        .target(name: "AutopilotClient", dependencies: ["AutopilotDomain", "AutopilotInterface", "Varlink"]),
        .executableTarget(
            name: "autopilotd",
            dependencies: ["AutopilotService", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "autopilotctl",
            dependencies: [
                "AutopilotClient", "AutopilotInterface", "AutopilotDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // The SHA-256 `devices inspect` shows, to match a hash with the devices `devices list` shows.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The benchmark tool (docs/performance.md): drives the built autopilotd and autopilotctl as a client does and
        // measures them against redis and sqlite3. Nothing in the daemon depends on it.
        .executableTarget(
            name: "autopilot-bench",
            dependencies: [
                "AutopilotClient", "AutopilotInterface", "AutopilotDomain", "AutopilotTestSupport", "Varlink",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/autopilot-bench"
        ),
        // Build-time tool: turns migrations/*.sql into a Swift source file.
        .executableTarget(name: "embed-sql", path: "Plugins/embed-sql"),
        .plugin(name: "EmbedMigrations", capability: .buildTool(), dependencies: ["embed-sql"]),

        // What tests and the benchmark make up: seeded random numbers and structurally valid hardware hashes.
        .target(
            name: "AutopilotTestSupport",
            dependencies: ["AutopilotDomain", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/AutopilotTestSupport"
        ),

        .testTarget(name: "AutopilotDomainTests", dependencies: ["AutopilotDomain", "AutopilotTestSupport"]),
        .testTarget(name: "VarlinkTests", dependencies: ["Varlink"]),
        // The interface's declarations: the permission table, the generated description, every record's codec.
        // InterfaceSignatures.txt is read by path from the source tree, like the fixtures below.
        .testTarget(name: "AutopilotInterfaceTests", dependencies: ["AutopilotInterface", "AutopilotDomain", "Varlink"],
                    exclude: ["InterfaceSignatures.txt"]),
        .testTarget(
            name: "AutopilotStoreTests",
            dependencies: [
                "AutopilotStore", "AutopilotDomain", "AutopilotInterface", "AutopilotTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Fixtures are CSV files the tests (and the autopilotctl they run) read by path from the source tree, so
        // they are not resources of the target.
        .testTarget(
            name: "AutopilotClientTests", dependencies: ["AutopilotClient", "AutopilotDomain", "AutopilotTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "AutopilotServiceTests",
            dependencies: ["AutopilotService", "AutopilotClient", "AutopilotInterface", "AutopilotDomain",
                           "AutopilotTestSupport", "Varlink", "CProcessMemory"],
            exclude: ["Fixtures"]
        ),
    ]
)

// A nonisolated async function runs on its caller's executor (SE-0461) instead of hopping to the generic one: a call
// runs on the event loop that read it (EventLoopTaskExecutor), and each hop was a check of the task's executor
// preference, 1,600 of a consent check's 70,000 instructions on the loop (docs/performance.md). Every Swift target gets it:
// it changes how async function types are mangled, so a module and the tests that call it must agree.
for target in package.targets where target.type != .plugin && target.name != "CProcessMemory" {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
}

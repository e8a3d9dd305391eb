package network.kim.partner;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the tests find the contract: system properties (set by the pom), else this repository's layout. */
final class Contract {
    private static Catalog catalog;

    private Contract() {}

    static Path schemas() {
        return existing(System.getProperty("kim.schemas.dir"), "../../schemas/avro");
    }

    static Path vectors() {
        return existing(System.getProperty("kim.vectors"), "../../schemas/vectors.json");
    }

    static synchronized Catalog catalog() {
        if (catalog == null) {
            catalog = Catalog.load(schemas());
        }
        return catalog;
    }

    private static Path existing(String property, String fallback) {
        Path path = Path.of(property != null ? property : fallback).toAbsolutePath().normalize();
        if (!Files.exists(path)) {
            throw new IllegalStateException("the contract is not at " + path + " (set -Dkim.schemas.dir and"
                    + " -Dkim.vectors)");
        }
        return path;
    }
}

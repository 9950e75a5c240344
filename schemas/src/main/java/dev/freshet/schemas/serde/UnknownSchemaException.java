package dev.freshet.schemas.serde;

/** A record's writer schema is not in the reader's {@link SchemaCatalog}. */
public final class UnknownSchemaException extends RecordFormatException {
    private final long fingerprint;

    public UnknownSchemaException(String recordType, long fingerprint) {
        super(String.format("%s record written with unknown schema fingerprint %016x: the writer is newer than this reader "
                + "and its schema was not registered. Fix: upgrade this reader, or register the writer's schema in the SchemaCatalog.",
                recordType, fingerprint));
        this.fingerprint = fingerprint;
    }

    public long fingerprint() {
        return fingerprint;
    }
}

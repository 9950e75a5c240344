package dev.freshet.trainer.checkpoint;

import dev.freshet.trainer.ModelConfig;

import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a model directory holds, read from its {@value ModelFiles#MANIFEST} (written last).
 *
 * @param formatVersion the format the files were written in
 * @param config        the model's config
 * @param metadata      free-form provenance: checkpoint offsets, version, parent, metrics ... (writer's choice)
 * @param files         every data file with its size and SHA-256
 */
public record ModelManifest(int formatVersion, ModelConfig config, Map<String, String> metadata, List<FileEntry> files) {
    public ModelManifest {
        Objects.requireNonNull(config, "config");
        metadata = Map.copyOf(metadata);
        files = List.copyOf(files);
    }

    /** @param sha256 32 bytes */
    public record FileEntry(String name, long bytes, byte[] sha256) {
        public String sha256Hex() {
            return HexFormat.of().formatHex(sha256);
        }
    }
}

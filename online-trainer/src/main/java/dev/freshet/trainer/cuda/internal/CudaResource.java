package dev.freshet.trainer.cuda.internal;

/**
 * Base of every CUDA handle owner (STYLE 8): one owner per handle, {@link #close()} is idempotent, and
 * any use after close fails with the handle's name instead of reaching the driver with a dead handle.
 */
abstract class CudaResource implements AutoCloseable {
    private final String what;
    private boolean closed;

    CudaResource(String what) {
        this.what = what;
    }

    /** Throws if this handle has been closed. */
    final void checkOpen() {
        if (closed) {
            throw new IllegalStateException(what + " is closed; it cannot be used after close()");
        }
    }

    final boolean isClosed() {
        return closed;
    }

    final String what() {
        return what;
    }

    @Override
    public final void close() {
        if (closed) return;
        closed = true;
        release();
    }

    /** Frees the native handle; called once. */
    abstract void release();

    /** Waits for {@code stream}'s work, then closes every resource as {@link #closeAll} does, even if the wait fails. */
    static void closeAllAfter(CudaStream stream, java.util.List<? extends CudaResource> owned) {
        try {
            stream.synchronize();
        } finally {
            closeAll(owned);
        }
    }

    /** Closes every resource, last created first; one that fails to close does not keep the rest open. */
    static void closeAll(java.util.List<? extends CudaResource> owned) {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (RuntimeException ignored) {
                // closing the rest matters more
            }
        }
    }
}

package dev.freshet.trainer.host;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;

/**
 * Frees direct buffers now through sun.misc.Unsafe.invokeCleaner where the JVM offers it, else leaves them to the
 * GC: host tables are gigabytes, which should not wait for a collection once closed.
 */
public final class DirectBuffers {
    private static final Object UNSAFE;
    private static final Method INVOKE_CLEANER;

    private DirectBuffers() {
    }

    static {
        Object unsafe = null;
        Method invoke = null;
        try {
            Class<?> c = Class.forName("sun.misc.Unsafe");
            Field f = c.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            unsafe = f.get(null);
            invoke = c.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            unsafe = null;
            invoke = null;
        }
        UNSAFE = unsafe;
        INVOKE_CLEANER = invoke;
    }

    /** Frees each buffer (not a slice or duplicate) now; every view of it dangles afterwards. */
    public static void free(ByteBuffer... buffers) {
        if (INVOKE_CLEANER == null) return;
        for (ByteBuffer b : buffers) {
            if (b == null) continue;
            try {
                INVOKE_CLEANER.invoke(UNSAFE, b);
            } catch (ReflectiveOperationException e) {
                return; // the GC frees it later
            }
        }
    }
}

import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.engine.TestExecutionResult;

import java.io.PrintWriter;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder.request;

/**
 * Runs the named test classes (the online-trainer's CUDA tests) on the GPU machine,
 * where there is no Maven: compiled and started by run-gpu.sh with the JUnit platform jars beside it.
 * Prints one line per test and JUnit's summary; exits 1 when a test failed.
 */
public final class GpuTestMain {
    public static void main(String[] args) {
        // classes by name: package scanning needs the jdk.zipfs module, which the small runtime leaves out
        var selectors = java.util.Arrays.stream(args).map(c -> selectClass(c)).toList();
        LauncherDiscoveryRequest req = request().selectors(selectors).build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener printer = new TestExecutionListener() {
            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("SKIPPED " + id.getDisplayName() + ": " + reason);
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!id.isTest()) {
                    if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL) {
                        System.out.println(result.getStatus() + " container " + id.getDisplayName() + ": " + result.getThrowable().map(Throwable::toString).orElse(""));
                    }
                    return;
                }
                System.out.println(result.getStatus() + " " + id.getUniqueId().replaceAll("\\[engine:junit-jupiter\\]/", "")
                        + result.getThrowable().map(t -> "\n    " + t).orElse(""));
            }
        };
        launcher.execute(req, summary, printer);
        summary.getSummary().printTo(new PrintWriter(System.out));
        summary.getSummary().printFailuresTo(new PrintWriter(System.out), 12);
        System.exit(summary.getSummary().getTotalFailureCount() == 0 ? 0 : 1);
    }
}

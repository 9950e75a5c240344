package dev.freshet.trainer.online;

import dev.freshet.config.ConfigException;
import dev.freshet.config.ConfigSource;
import dev.freshet.trainer.ModelConfig;
import dev.freshet.trainer.TrainerBackend;
import dev.freshet.trainer.cpu.CpuBackend;
import dev.freshet.trainer.cuda.CudaBackend;
import dev.freshet.trainer.cuda.CudaOptions;
import dev.freshet.trainer.host.HostModelState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Picks the backend for {@code trainer.backend}: CUDA where asked for or (auto) where a GPU answers, else the CPU. */
public final class TrainerBackends {
    private static final Logger LOG = LoggerFactory.getLogger(TrainerBackends.class);

    private TrainerBackends() {
    }

    /** A backend holding a freshly initialised model; the caller owns (closes) it. Says why it did not pick CUDA. */
    public static TrainerBackend create(TrainerConfig.Backend choice, ModelConfig model, ConfigSource config) {
        if (choice != TrainerConfig.Backend.CPU) {
            CudaOptions options = CudaOptions.from(config);
            var probe = CudaBackend.probe(options.device());
            if (probe.available()) {
                HostModelState state = HostModelState.initialize(model);
                try {
                    return CudaBackend.create(model, options, state);
                } catch (RuntimeException e) {
                    state.close();
                    if (choice == TrainerConfig.Backend.CUDA) throw e;
                    LOG.warn("CUDA device {} found but the CUDA backend failed ({}); training on the CPU", probe.deviceName(), e.toString());
                }
            } else if (choice == TrainerConfig.Backend.CUDA) {
                throw new ConfigException("trainer.backend = cuda but " + probe.reason() + ". Fix: run on a machine with an NVIDIA GPU "
                        + "and driver, or set trainer.backend=cpu (or auto).");
            } else {
                LOG.info("trainer.backend = auto and no GPU ({}): training on the CPU", probe.reason());
            }
        }
        return CpuBackend.create(model, config.get(CpuBackend.THREADS), config.get(CpuBackend.NICE));
    }
}

package dev.tandem.cli;

import dev.tandem.core.TandemException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code tandem} command. Results go to stdout, logs and errors to stderr. */
@Command(name = "tandem", mixinStandardHelpOptions = true, version = "tandem 0.1.0",
        description = "Serves Mixture-of-Experts LLMs (Mixtral, DBRX) with attention/FFN and prompt/token disaggregation.",
        subcommands = {ServeCommand.class, GenerateCommand.class, SynthCommand.class, DemoCommand.class, BenchCommand.class,
                LocalCommand.class, AttentionNodeCommand.class, ExpertNodeCommand.class, PromptNodeCommand.class, SchedulerCommand.class, MediaDriverCommand.class,
                TokenizeCommand.class})
public final class TandemCommand {
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests run it in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new TandemCommand());
        cli.setExecutionExceptionHandler(TandemCommand::reportError);
        return cli;
    }

    /** A user error prints its message alone; anything else also says where it came from. */
    private static int reportError(Exception e, CommandLine cli, CommandLine.ParseResult parsed) {
        PrintWriter err = cli.getErr();
        if (e instanceof TandemException || e instanceof IllegalArgumentException) {
            err.println("tandem: error: " + e.getMessage());
        } else {
            err.println("tandem: internal error: " + e);
            e.printStackTrace(err);
        }
        err.flush();
        return 1;
    }
}

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
                TokenizeCommand.class, SimulateCommand.class, PlanCommand.class, ProfileCommand.class})
public final class TandemCommand {
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests run it in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new TandemCommand());
        cli.setExecutionExceptionHandler(TandemCommand::reportError);
        cli.setParameterExceptionHandler(TandemCommand::reportUsageError);
        giveVersion(cli, cli.getCommandSpec().version());
        return cli;
    }

    /** Every subcommand answers --version as the top command does. */
    private static void giveVersion(CommandLine cli, String[] version) {
        for (CommandLine sub : cli.getSubcommands().values()) {
            sub.getCommandSpec().version(version);
            giveVersion(sub, version);
        }
    }

    /** A usage error prints the error and where the help is, not the whole help. */
    private static int reportUsageError(CommandLine.ParameterException e, String[] args) {
        CommandLine cli = e.getCommandLine();
        PrintWriter err = cli.getErr();
        err.println("tandem: error: " + e.getMessage());
        err.println("see '" + cli.getCommandSpec().qualifiedName() + " --help'");
        err.flush();
        return 2;
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

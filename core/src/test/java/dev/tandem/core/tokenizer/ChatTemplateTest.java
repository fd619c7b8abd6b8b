package dev.tandem.core.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.TandemException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chat templates rendered by Jinja (Jinjava), read from tokenizer_config.json. Expected prompts
 * are written out by hand from each template's definition.
 */
class ChatTemplateTest {
    /** Mixtral-8x7B-Instruct's current template: optional system message, spaces around [INST]. */
    private static final String MIXTRAL = """
            {%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}\
            {%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}\
            {{- bos_token }}{%- for message in loop_messages %}\
            {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{- raise_exception('roles must alternate') }}{%- endif %}\
            {%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}\
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\
            {%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}\
            {%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token}}{%- endif %}{%- endfor %}""";
    /** The first Mixtral-Instruct v0.1 template: no spaces before [INST] or the answer. */
    private static final String MIXTRAL_V01 = """
            {{ bos_token }}{% for message in messages %}\
            {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}{% endif %}\
            {% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}\
            {% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}""";
    /** DBRX-Instruct's layout with a short default system prompt of our own. */
    private static final String DBRX_LIKE = """
            {% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}\
            {% set system_message = messages[0]['content'] %}{% elif 'system' not in messages[0]['role'] %}\
            {% set loop_messages = messages %}{% set system_message = 'You are a test model.\\nYou don\\'t know much.' %}\
            {% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}\
            {% for message in loop_messages %}{% if loop.index0 == 0 %}{% if system_message != false %}\
            {{ '<|im_start|>system\\n' + system_message | trim + '<|im_end|>\\n'}}{% endif %}\
            {{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}\
            {% else %}{{ '\\n' + '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}{% endif %}\
            {% if (add_generation_prompt == true and loop.last) %}{{ '\\n' + '<|im_start|>' + 'assistant' + '\\n' }}{% endif %}{% endfor %}""";
    /** Plain ChatML, every message followed by a newline, with a BOS first. */
    private static final String CHATML = """
            {{bos_token}}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}\
            {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}""";

    private static final List<ChatMessage> CONVERSATION = List.of(new ChatMessage("system", "Be brief."),
            new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "Why?"));

    @TempDir
    Path temp;

    @Test
    void shouldRenderMixtralWithTheSystemMessageInTheFirstUserTurn() throws IOException {
        Tokenizer tokenizer = tokenizerWithTemplate(MIXTRAL);
        String prompt = tokenizer.chatTemplate().orElseThrow().render(CONVERSATION, true);
        assertEquals("<s> [INST] Be brief.\n\nHi [/INST] Hello!</s> [INST] Why? [/INST]", prompt);
        int[] ids = tokenizer.encode(prompt);
        assertEquals(1, ids[0], "<s> is matched as the BOS token");
        assertEquals(1, java.util.stream.IntStream.of(ids).filter(id -> id == 2).count(), "</s> is matched as the EOS token");
    }

    @Test
    void shouldRenderTheFirstMixtralTemplateWithoutSpaces() {
        ChatTemplate template = new JinjaChatTemplate(MIXTRAL_V01, "<s>", "</s>");
        assertEquals("<s>[INST] Hi [/INST]Hello!</s>[INST] Why? [/INST]", template.render(CONVERSATION.subList(1, 4), true));
    }

    @Test
    void shouldRefuseWhatTheTemplateRefusesWithItsOwnMessage() {
        ChatTemplate template = new JinjaChatTemplate(MIXTRAL, "<s>", "</s>");
        TandemException twoUsers = assertThrows(TandemException.class, () -> template.render(
                List.of(new ChatMessage("user", "a"), new ChatMessage("user", "b")), true));
        assertTrue(twoUsers.getMessage().contains("roles must alternate"), twoUsers.getMessage());
        assertThrows(TandemException.class, () -> template.render(List.of(new ChatMessage("assistant", "a")), true));
    }

    @Test
    void shouldRenderDbrxLayoutWithItsDefaultSystemPromptWhenNoneIsGiven() {
        ChatTemplate template = new JinjaChatTemplate(DBRX_LIKE, "<|endoftext|>", "<|endoftext|>");
        List<ChatMessage> hi = List.of(new ChatMessage("user", "Hi"));
        String system = "<|im_start|>system\nYou are a test model.\nYou don't know much.<|im_end|>\n";
        assertEquals(system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", template.render(hi, true));
        assertEquals(system + "<|im_start|>user\nHi<|im_end|>", template.render(hi, false));
    }

    @Test
    void shouldRenderDbrxLayoutWithTheGivenSystemMessageTrimmed() {
        ChatTemplate template = new JinjaChatTemplate(DBRX_LIKE, "<|endoftext|>", "<|endoftext|>");
        List<ChatMessage> messages = List.of(new ChatMessage("system", "  Be brief.\n"), new ChatMessage("user", "Hi"),
                new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "Why?"));
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n",
                template.render(messages, true));
    }

    @Test
    void shouldRenderPlainChatMlWithANewlineAfterEveryMessage() {
        ChatTemplate template = new JinjaChatTemplate(CHATML, "<s>", "<|im_end|>");
        assertEquals("<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                template.render(CONVERSATION.subList(0, 2), true));
        assertEquals("<s><|im_start|>user\nHi<|im_end|>\n", template.render(CONVERSATION.subList(1, 2), false));
    }

    @Test
    void shouldRenderATemplateOfAnyFamily() throws IOException {
        Tokenizer tokenizer = tokenizerWithTemplate("{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
        assertEquals("### system: Be brief.\n### user: Hi\n### assistant: Hello!\n### user: Why?\n",
                tokenizer.chatTemplate().orElseThrow().render(CONVERSATION, true));
    }

    @Test
    void shouldHaveNoTemplateWhenTheConfigHasNone() {
        for (String name : TokenizerReferenceTest.TOKENIZERS) {
            assertTrue(TokenizerReferenceTest.tokenizer(name).chatTemplate().isEmpty(), name);
        }
    }

    /** spm-32k's files with {@code template} added to its tokenizer_config.json. */
    private Tokenizer tokenizerWithTemplate(String template) throws IOException {
        Path source = TokenizerReferenceTest.dir("spm-32k");
        Files.copy(source.resolve("tokenizer.json"), temp.resolve("tokenizer.json"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", template);
        json.writeValue(temp.resolve("tokenizer_config.json").toFile(), config);
        return Tokenizer.load(temp);
    }
}

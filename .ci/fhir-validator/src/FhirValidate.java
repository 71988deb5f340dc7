/*
 * The FHIR R4 reference validator, offline: HAPI's FhirInstanceValidator over
 * many JSON files in one JVM start (the start and the first validation cost
 * seconds; each later file milliseconds).
 *
 *   java -cp 'LIBS/*:CLASSES' FhirValidate PATH...
 *
 * PATH is a .json file or a directory (its *.json files, recursively, sorted).
 * Prints one JSON object per file on stdout, one line each:
 *   {"file": "...", "messages": [{"severity": "error", "location": "Patient.name[0]",
 *     "line": 3, "column": 5, "id": "...", "message": "..."}]}
 * Exit code 0 when every file was read (whatever the findings: the caller
 * decides what fails), 2 on a usage or I/O problem.
 *
 * The validation chain knows only what ships in the jars: the R4 core
 * profiles, value sets and code systems (hapi-fhir-validation-resources-r4),
 * the common code systems HAPI checks by itself (UCUM, BCP-47 languages,
 * ISO 3166 countries, MIME types...) and snapshots generated from
 * differentials. Nothing is fetched: a code in a code system none of them
 * holds (LOINC, CPT, carelog's own urn: systems) cannot be checked here and
 * becomes a warning (UnknownCodeSystemWarningValidationSupport), never an
 * error; the docs list those warnings (docs/fhir-search.md).
 */

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

public final class FhirValidate {
  private FhirValidate() {}

  public static void main(String[] args) throws IOException {
    if (args.length == 0) {
      System.err.println("usage: FhirValidate PATH... (.json files or directories)");
      System.exit(2);
    }
    List<Path> files = new ArrayList<>();
    for (String arg : args) {
      Path path = Paths.get(arg);
      if (Files.isDirectory(path)) {
        try (Stream<Path> walk = Files.walk(path)) {
          files.addAll(
              walk.filter(p -> p.toString().endsWith(".json") && Files.isRegularFile(p))
                  .sorted()
                  .collect(Collectors.toList()));
        }
      } else if (Files.isRegularFile(path)) {
        files.add(path);
      } else {
        System.err.println("FhirValidate: no such file or directory: " + arg);
        System.exit(2);
      }
    }

    FhirContext ctx = FhirContext.forR4();
    UnknownCodeSystemWarningValidationSupport unknown =
        new UnknownCodeSystemWarningValidationSupport(ctx);
    unknown.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
    ValidationSupportChain chain =
        new ValidationSupportChain(
            new DefaultProfileValidationSupport(ctx),
            new CommonCodeSystemsTerminologyService(ctx),
            new InMemoryTerminologyServerValidationSupport(ctx),
            new SnapshotGeneratingValidationSupport(ctx),
            unknown);
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    FhirValidator validator = ctx.newValidator();
    validator.registerValidatorModule(module);

    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    for (Path file : files) {
      String body = Files.readString(file, StandardCharsets.UTF_8);
      StringBuilder line = new StringBuilder();
      line.append("{\"file\": ").append(quote(file.toString())).append(", \"messages\": [");
      ValidationResult result = validator.validateWithResult(body);
      boolean first = true;
      for (SingleValidationMessage m : result.getMessages()) {
        if (!first) {
          line.append(", ");
        }
        first = false;
        line.append("{\"severity\": ").append(quote(severity(m.getSeverity())));
        line.append(", \"location\": ").append(quote(m.getLocationString()));
        line.append(", \"line\": ").append(m.getLocationLine() == null ? "null" : m.getLocationLine());
        line.append(", \"column\": ").append(m.getLocationCol() == null ? "null" : m.getLocationCol());
        line.append(", \"id\": ").append(quote(m.getMessageId()));
        line.append(", \"message\": ").append(quote(m.getMessage())).append("}");
      }
      line.append("]}");
      out.println(line);
      out.flush();
    }
  }

  private static String severity(ResultSeverityEnum s) {
    return s == null ? "error" : s.getCode();
  }

  /** A JSON string literal (the JDK has no JSON writer; HAPI's Jackson is not ours to lean on). */
  private static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}

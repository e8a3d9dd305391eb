package network.kim.partner;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * An agency's record-signing key, as {@code kim agency add} printed it once: {@code KEYID:base64url(secret)}, e.g.
 * {@code JOBCENTER.3f9a1c2b:…}. The key id travels in the {@code kim.signer} header; the signature in {@code kim.sig}
 * lets the platform's workers check that the record comes from the agency its envelope names.
 *
 * <p>The signature is HMAC-SHA256 over the record key's length (4 bytes, big-endian), the key and the value — the
 * length makes the split between key and value unambiguous — sent as standard base64 with padding.
 */
public final class SigningKey {
    public static final String SIGNER_HEADER = "kim.signer";
    public static final String SIG_HEADER = "kim.sig";
    /** The platform's own key id; it may sign for any agency (partners never hold it). */
    public static final String PLATFORM_SIGNER = "kim-platform";

    private final String keyId;
    private final byte[] secret;

    public SigningKey(String keyId, byte[] secret) {
        this.keyId = keyId;
        this.secret = secret.clone();
    }

    /**
     * Reads the printed form. Split at the last colon (the secret's base64url has none); the secret must decode to at
     * least 16 bytes.
     */
    public static SigningKey parse(String printed) {
        String text = printed == null ? "" : printed.strip();
        int colon = text.lastIndexOf(':');
        byte[] secret = new byte[0];
        if (colon > 0) {
            try {
                secret = Base64.getUrlDecoder().decode(text.substring(colon + 1));
            } catch (IllegalArgumentException e) {
                secret = new byte[0];
            }
        }
        if (colon <= 0 || secret.length < 16) {
            throw new KimException("a signing key looks like 'AGENCY.xxxxxxxx:<base64>' as `kim agency add` printed"
                    + " it");
        }
        return new SigningKey(text.substring(0, colon), secret);
    }

    public String keyId() {
        return keyId;
    }

    /** The agency this key speaks for (the key id before its last '.'); empty for the platform's key. */
    public Optional<String> agency() {
        if (PLATFORM_SIGNER.equals(keyId)) {
            return Optional.empty();
        }
        int dot = keyId.lastIndexOf('.');
        return Optional.of(dot < 0 ? keyId : keyId.substring(0, dot));
    }

    /** HMAC-SHA256(secret, len(key) as 4 bytes big-endian ‖ key ‖ value); a null key or value signs as empty. */
    public byte[] signature(byte[] key, byte[] value) {
        byte[] k = key == null ? new byte[0] : key;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(ByteBuffer.allocate(4).putInt(k.length).array());
            mac.update(k);
            if (value != null) {
                mac.update(value);
            }
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JVM", e);
        }
    }

    /** The value of the {@code kim.sig} header: the signature in standard base64 with padding. */
    public String signatureHeader(byte[] key, byte[] value) {
        return Base64.getEncoder().encodeToString(signature(key, value));
    }

    /** The value of the {@code kim.signer} header. */
    public byte[] signerHeader() {
        return keyId.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "SigningKey(" + keyId + ")"; // never the secret
    }
}
